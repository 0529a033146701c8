// shim.h — image codecs: libjpeg-turbo's TurboJPEG API and libpng's simplified API. Neither needs
// setjmp from the caller: errors come back as return codes and messages.
#ifndef REFCLIP_CIMAGE_SHIM_H
#define REFCLIP_CIMAGE_SHIM_H
#include <turbojpeg.h>
#include <png.h>
#endif
