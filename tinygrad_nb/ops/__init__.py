"""Every differentiable op, one `Function` subclass each, grouped by kind:
elementwise, reduce, movement, matmul (and conv, pool, rnn as they land)."""
