"""The operator kernels: each file holds one family of `Function`s and their public wrappers."""
