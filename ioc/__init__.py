"""operando.ioc"""
