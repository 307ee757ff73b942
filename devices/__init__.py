"""operando.devices"""
from . import ca_gets

ca_gets.install()      # before any device reads a channel (see ca_gets: pyepics's stuck get)
