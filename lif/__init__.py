"""lif: spiking networks of leaky integrate-and-fire neurons, the tempotron first.

Layers, bottom to top: kernels and encoders (pure math), functional (exact voltages),
layers and losses (torch modules), data and module (Lightning), app (train(cfg)).
"""
