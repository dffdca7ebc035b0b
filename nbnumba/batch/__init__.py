"""Batch generation: a manifest of images rendered into a folder, resumably, by Dask or in shards.

manifest.py reads the manifest into jobs; job.py renders one job into its files (the work); runner.py
schedules jobs (Dask LocalCluster, a scheduler address, dask-jobqueue's SLURMCluster, or this process
for shards); command.py is `nbnumba batch`."""
