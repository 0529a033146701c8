// shim.h — OpenMPI for Swift. OpenMPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, …)
// are cast macros that Swift cannot import, so each is exposed as a static inline getter.
#ifndef REFCLIP_CMPI_SHIM_H
#define REFCLIP_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm refclip_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Errhandler refclip_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Datatype refclip_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype refclip_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype refclip_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype refclip_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype refclip_mpi_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Op refclip_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op refclip_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op refclip_mpi_min(void) { return MPI_MIN; }
static inline void *refclip_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int refclip_mpi_success(void) { return MPI_SUCCESS; }
static inline int refclip_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int refclip_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline MPI_Status *refclip_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *refclip_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int refclip_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info refclip_mpi_info_null(void) { return MPI_INFO_NULL; }

#endif
