# QpUninstall — removes every file that `cmake --install` recorded in
# install_manifest.txt (run as: cmake -DMANIFEST=... -P QpUninstall.cmake).
# Directories are left: they may hold files that were there before.
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "nothing to uninstall: ${MANIFEST} does not exist (run make install first)")
endif()
file(STRINGS "${MANIFEST}" files)
foreach(f IN LISTS files)
  if(IS_SYMLINK "$ENV{DESTDIR}${f}" OR EXISTS "$ENV{DESTDIR}${f}")
    message(STATUS "Removing $ENV{DESTDIR}${f}")
    file(REMOVE "$ENV{DESTDIR}${f}")
  endif()
endforeach()
