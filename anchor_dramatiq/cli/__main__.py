from anchor_dramatiq.cli import main

main()
