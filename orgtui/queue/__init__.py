"""The experiment queue: jobs on disk, the engines that run them, the scheduler that places them."""
