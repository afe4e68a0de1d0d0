import SettCLI

SettCommand.main()
