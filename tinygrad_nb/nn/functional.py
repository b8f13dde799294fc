"""nn.functional (F): stateless layer functions with PyTorch's argument names and defaults.
Each topic keeps its functions in its own module; this one gathers them."""
