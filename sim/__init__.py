"""Province simulator: a jurisdiction's agreement year as contract events (`python -m sim`).

`sim.scenario.simulate(SimConfig(...))` yields the events without Kafka; `sim.player.play`
sends them at an accelerated clock.
"""
