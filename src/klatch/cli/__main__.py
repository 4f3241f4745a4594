from klatch.cli.main import main

main()
