from augment.cli import main

main()
