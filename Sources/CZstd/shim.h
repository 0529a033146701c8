// shim.h — the zstd compression library.
#ifndef REFCLIP_CZSTD_SHIM_H
#define REFCLIP_CZSTD_SHIM_H
#include <zstd.h>
#endif
