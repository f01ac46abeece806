"""Which seeded stream each random step of CE-GZSL and IPCE draws from: ``generator_for(seed, epoch, purpose)``.

Why: every step has its own generator, so a resumed run repeats the uninterrupted one, and an option that draws
more (or fewer) numbers in one step leaves the others' draws as they were. The values are part of every result
measured so far: do not renumber them.
"""

INIT, TRAIN, HEAD, SYNTH, PROTO = range(5)  # purposes of the seeded generators
