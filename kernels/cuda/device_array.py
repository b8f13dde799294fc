"""DeviceArray: what the modules beneath array.py know of a CudaArray.

CudaArray (array.py) calls the engines beside the kernels for its operators and indexing
(elementwise.py, reduce.py, indexing.py, dtypes.py), so those cannot import it in turn:
they recognise a CudaArray as a DeviceArray, and make new arrays through the class of an
array they were given (`type(a).empty(shape, dtype)`, `type(a).constant(value, dtype)`).
The imports then point one way, from the array to its engines.
"""


class DeviceArray:
    """The base class of CudaArray, for isinstance checks below array.py; it holds nothing."""

    __slots__ = ()
