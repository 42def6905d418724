/* headertest — each public header is included alone by a generated file
 * (see test/CMakeLists.txt); this file includes the umbrella header. */
#include "quipu/quipu.h"

int main(void)
{
    return 0;
}
