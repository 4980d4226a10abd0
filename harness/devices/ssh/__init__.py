"""Linux boards on the bench over SSH: the ``ssh://`` link, its session, and the device that runs the board runner."""
