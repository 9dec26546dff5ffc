"""The Qt shell over the core: windows, views, dialogs and the Qt side of background work."""
