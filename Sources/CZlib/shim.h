// shim.h — zlib's gz* file API, which reads gzip-compressed and plain files alike.
#ifndef REFCLIP_CZLIB_SHIM_H
#define REFCLIP_CZLIB_SHIM_H
#include <zlib.h>
#endif
