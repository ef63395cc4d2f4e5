"""Platform adapters and the CLI: thin translators between platforms and the dialogue."""
