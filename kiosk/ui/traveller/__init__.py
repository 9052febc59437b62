"""The traveller's screens: a Qt-free presenter (flow events -> what to show) and the Qt widgets."""
