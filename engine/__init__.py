"""operando.engine"""
