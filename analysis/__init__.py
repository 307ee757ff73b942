"""operando.analysis"""
