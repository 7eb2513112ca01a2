"""The stepped core: neurons that spike and reset, simulated step by step on the time grid.

- :mod:`lif.stepped.surrogates`: the spike's surrogate derivatives (the ``surrogate`` group);
- :mod:`lif.stepped.neuron`: what neurons share (time constants, threshold, reset);
- :mod:`lif.stepped.lif`, :mod:`lif.stepped.cuba`, :mod:`lif.stepped.alif`: spiking neurons
  (the ``neuron`` group), :mod:`lif.stepped.li`: the non-spiking output;
- :mod:`lif.stepped.simulate`: the time loop of a layer (the reference);
- :mod:`lif.stepped.layer`: a layer by its fastest exact path (the compiled scan on the CPU);
- :mod:`lif.stepped.projection`: a layer's input currents, event-driven for spikes;
- :mod:`lif.stepped.fused`: a spiking layer on a sparse raster and the leaky-integrator outputs
  above it in one compiled pass per pattern;
- :mod:`lif.stepped.compiled`: the numba CPU kernels behind the last three.

Each neuron module has Norse's shape: a state and a per-step constants NamedTuple, a pure step
function, and a thin ``nn.Module`` holding the (optionally learnable) time constants. Decays
are exact, exp(-dt/tau). This core imports only :mod:`lif.kernels` and :mod:`lif.errors`;
the exact core (:mod:`lif.exact`) and this one do not import each other.
"""
