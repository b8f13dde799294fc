"""The MPI world of the ranks that mpiexec started: joining it (init), who is who (rank,
world_size, is_main, the ranks sharing this machine), sharing out the cores, and whether
the MPI library reads GPU memory itself. Without mpiexec, or without mpi4py, the world is
this one process."""
import ctypes
import os
import sys
import time

_world = None  # the MPI communicator once init() ran with more than one rank, else None


def init(abort_on_error=True):
    """Join the MPI world of the ranks started by mpiexec (once; later calls do nothing).

    With more than one rank and `abort_on_error`, an uncaught exception on any rank prints its
    traceback and aborts the whole job (MPI_Abort), instead of leaving the other ranks waiting
    forever in their next collective. Without mpi4py, the world is this one process."""
    global _world
    if _world is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError:
        return
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return
    _world = comm
    if abort_on_error:
        previous = sys.excepthook

        def abort(kind, value, trace):
            previous(kind, value, trace)
            sys.stderr.flush()
            time.sleep(0.5)  # MPI_Abort ends every rank at once: give mpiexec a moment to pass the traceback on
            comm.Abort(1)

        sys.excepthook = abort


def communicator():
    """mpi4py's communicator of all the ranks, or None in a world of one."""
    return _world


def world_size():
    return 1 if _world is None else _world.Get_size()


def rank():
    return 0 if _world is None else _world.Get_rank()


def is_main():
    """True on rank 0: the rank that prints, shows progress and writes checkpoints."""
    return rank() == 0


def local_rank_and_size():
    """(this rank's number among the ranks on this machine, how many there are)."""
    if _world is None:
        return 0, 1
    from mpi4py import MPI

    local = _world.Split_type(MPI.COMM_TYPE_SHARED)
    return local.Get_rank(), local.Get_size()


def pin_to_cores():
    """Give each rank on this machine its own share of the cores (processor affinity), and
    run the CPU kernels on that many of Numba's threads, so that ranks sharing a machine do
    not fight over cores; returns the cores this rank got."""
    import numba

    cores = sorted(os.sched_getaffinity(0))
    local, size = local_rank_and_size()
    share = cores[local * len(cores) // size:(local + 1) * len(cores) // size] or [cores[local % len(cores)]]
    os.sched_setaffinity(0, share)
    numba.set_num_threads(min(len(share), numba.config.NUMBA_NUM_THREADS))
    return share


def cuda_aware():
    """Whether the MPI library reads and writes GPU memory itself: its MPIX_Query_cuda_support
    (looked up in the libmpi that mpi4py loaded; False where there is none)."""
    try:
        with open("/proc/self/maps") as maps:
            libraries = sorted({line.split()[-1] for line in maps if "/libmpi" in line})
    except OSError:
        return False
    for path in libraries:
        try:
            query = ctypes.CDLL(path).MPIX_Query_cuda_support
        except (OSError, AttributeError):
            continue
        query.restype = ctypes.c_int
        return bool(query())
    return False
