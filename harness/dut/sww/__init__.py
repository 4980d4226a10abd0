"""The MLPerf Tiny streaming wake-word (sww01) flow: the enhanced interface board's protocol, its host driver,
and a simulated board and DUT that run a real model on the played stream."""
