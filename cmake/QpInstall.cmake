# QpInstall — what `make install` / `cmake --install` puts where, and the
# Debian package (`make deb`, CPack). Included from the top-level
# CMakeLists.txt after the targets exist. Paths follow GNUInstallDirs, so
# CMAKE_INSTALL_PREFIX (make install PREFIX=...) and DESTDIR work as usual:
#
#   bin/quipud, bin/quipu                    the daemon and the client
#   lib/<multiarch>/libquipu.a, libquipu.so.0  the engine, static and shared
#   include/quipu/*.h, lib/.../pkgconfig/quipu.pc
#   share/man/man1/quipu.1, quipud.1
#   lib/systemd/user/quipud@.service          ExecStart names the installed quipud
#   share/bash-completion/completions/quipu
#   share/quipu/nvim/                         the Neovim plugin
#   share/doc/quipu/                          README, copyright, changelog
#
# install_manifest.txt lists every file installed; `make uninstall` removes them.
include(GNUInstallDirs)

# ---- libquipu, shared -------------------------------------------------------
# The same objects as the static library (built position-independent), so
# the engine is compiled once. The soname follows the major version: 0 while
# the API may still change.
option(QP_SHARED "Build and install libquipu.so beside libquipu.a" ON)
if(QP_SHARED)
  set_target_properties(quipu PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_library(quipu_shared SHARED $<TARGET_OBJECTS:quipu>)
  target_link_libraries(quipu_shared PRIVATE $<TARGET_PROPERTY:quipu,LINK_LIBRARIES>)
  target_include_directories(quipu_shared
      PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
             $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
             $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  set_target_properties(quipu_shared PROPERTIES
      OUTPUT_NAME quipu
      VERSION ${PROJECT_VERSION}
      SOVERSION ${PROJECT_VERSION_MAJOR}
      LINKER_LANGUAGE C)
  # Only the public API is exported (cmake/libquipu.map).
  target_link_options(quipu_shared PRIVATE
      "LINKER:--version-script=${PROJECT_SOURCE_DIR}/cmake/libquipu.map")
  set_property(TARGET quipu_shared APPEND PROPERTY
      LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/libquipu.map)
  install(TARGETS quipu_shared
      LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_SKIP)
  install(TARGETS quipu_shared
      LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_ONLY)
endif()

# ---- programs, library, headers, pkg-config -----------------------------------
foreach(t quipud quipu-cli)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
install(FILES $<TARGET_FILE:quipu> DESTINATION ${CMAKE_INSTALL_LIBDIR})
file(GLOB QP_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/quipu/*.h)
install(FILES ${QP_PUBLIC_HEADERS} ${PROJECT_BINARY_DIR}/include/quipu/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/quipu)

# quipu.pc and the systemd unit name installed paths, so they are written
# at install time, for the prefix of that install: `cmake --install
# --prefix`, and CPack's /usr, get their own paths, not the configured one.
function(qp_install_configured src dest_dir)
  get_filename_component(name ${src} NAME)
  string(REGEX REPLACE "\\.in$" "" name ${name})
  set(out ${PROJECT_BINARY_DIR}/install-time/${name})
  install(CODE "
    set(QP_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(QP_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(QP_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
    set(QP_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
    set(PROJECT_VERSION \"${PROJECT_VERSION}\")
    configure_file(\"${src}\" \"${out}\" @ONLY)")
  install(FILES ${out} DESTINATION ${dest_dir})
endfunction()
qp_install_configured(${PROJECT_SOURCE_DIR}/cmake/quipu.pc.in ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- man pages, systemd unit, completion, Neovim plugin, docs -----------------
# Debian (and lintian) want man pages and the changelog compressed with
# gzip -9n: no name, no time stamp, so the package is reproducible.
find_program(GZIP gzip REQUIRED)
function(qp_gzip src out_var)
  get_filename_component(name ${src} NAME)
  set(out ${PROJECT_BINARY_DIR}/gz/${name}.gz)
  add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/gz
      COMMAND ${GZIP} -9nc ${src} > ${out}
      DEPENDS ${src} VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()

file(GLOB QP_MAN_PAGES ${PROJECT_SOURCE_DIR}/docs/*.1)
set(QP_GZIPPED "")
foreach(page ${QP_MAN_PAGES})
  qp_gzip(${page} gz)
  list(APPEND QP_GZIPPED ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endforeach()
qp_gzip(${PROJECT_SOURCE_DIR}/contrib/debian/changelog gz)
list(APPEND QP_GZIPPED ${gz})
add_custom_target(qp_gzipped ALL DEPENDS ${QP_GZIPPED})

# systemd looks for user units in <prefix>/lib/systemd/user (for /usr and
# /usr/local alike), not in the multiarch libdir.
# The prefix is the install's, so the destination is relative: lib/systemd/user.
qp_install_configured(${PROJECT_SOURCE_DIR}/contrib/systemd/quipud@.service.in lib/systemd/user)

install(FILES ${PROJECT_SOURCE_DIR}/contrib/completions/quipu.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME quipu)

# The plugin as a directory to put on 'runtimepath'. Its doc/tags is made
# at build time (Neovim's :helptags, when nvim is found), since the
# installed directory is usually not writable by the user.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/contrib/nvim/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/quipu/nvim
        PATTERN tags EXCLUDE)
find_program(NVIM nvim)
if(NVIM)
  set(tags_dir ${PROJECT_BINARY_DIR}/nvim-doc)
  add_custom_command(OUTPUT ${tags_dir}/tags
      COMMAND ${CMAKE_COMMAND} -E make_directory ${tags_dir}
      COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/contrib/nvim/doc/quipu.txt ${tags_dir}/
      COMMAND ${NVIM} --headless -u NONE -i NONE -c "helptags ${tags_dir}" -c q
      DEPENDS ${PROJECT_SOURCE_DIR}/contrib/nvim/doc/quipu.txt VERBATIM)
  add_custom_target(qp_nvim_tags ALL DEPENDS ${tags_dir}/tags)
  install(FILES ${tags_dir}/tags DESTINATION ${CMAKE_INSTALL_DATADIR}/quipu/nvim/doc)
endif()

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/protocol.md
              ${PROJECT_SOURCE_DIR}/docs/query-language.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/contrib/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_BINARY_DIR}/gz/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- make uninstall -----------------------------------------------------------------
add_custom_target(uninstall
    COMMAND ${CMAKE_COMMAND} -DMANIFEST=${PROJECT_BINARY_DIR}/install_manifest.txt
            -P ${PROJECT_SOURCE_DIR}/cmake/QpUninstall.cmake
    COMMENT "Removing the files listed in install_manifest.txt")

# ---- the Debian package ---------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME quipu)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "quipu")
set(QP_DEB_MAINTAINER "quipu maintainers <quipu@users.noreply.github.com>"
    CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${QP_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "live index of an Obsidian-style Markdown vault")
# CPack puts the summary first and indents each line of this by one space.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "quipud watches a vault of Markdown notes, keeps an index of its links,
tasks and metadata in SQLite and answers editors over a Unix socket:
backlinks, the meetings that mention a person, Obsidian Tasks queries.
quipu is its command-line client; a Neovim plugin, a systemd user unit
and bash completion are included, with the libquipu engine and its
headers.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr) # whatever CMAKE_INSTALL_PREFIX says
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION text)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
# dpkg runs ldconfig once per transaction through this trigger.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/contrib/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "neovim, bash-completion")
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_IGNORE_FILES "/build[^/]*/;/\\\\.git/")
include(CPack)
