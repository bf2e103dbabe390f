from localroute.cli import run

run()
