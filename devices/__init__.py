"""operando.devices"""
