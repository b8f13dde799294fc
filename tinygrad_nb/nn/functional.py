"""nn.functional (F): stateless layer functions with PyTorch's argument names and defaults.
Each topic keeps its functions in its own module; this one gathers them."""
from .activation import FUNCTIONS, elu, gelu, leaky_relu, log_softmax, prelu, softmax, softplus
globals().update(FUNCTIONS)  # the activations made from the rules' table (F.relu, F.mish ...)
from .conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from .conv3d import conv3d, conv_transpose3d
from .dropout import dropout, dropout2d
from .embedding import embedding
from .linear import linear
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div, l1_loss,
                   mse_loss, nll_loss, smooth_l1_loss)
from .normalization import batch_norm, group_norm, instance_norm, layer_norm
from .padding import pad
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d,
                      avg_pool2d, max_pool1d, max_pool2d)
from .pooling3d import adaptive_avg_pool3d, avg_pool3d, max_pool3d
from .upsampling import interpolate, pixel_shuffle, pixel_unshuffle
