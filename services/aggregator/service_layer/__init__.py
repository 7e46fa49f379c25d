"""The aggregator's use case (`Projector.apply`) on the ports it owns (`ports`)."""
