// shim.h — OpenBLAS's CBLAS interface and its thread-count controls.
#ifndef REFCLIP_CBLAS_SHIM_H
#define REFCLIP_CBLAS_SHIM_H
#include <cblas.h>
#endif
