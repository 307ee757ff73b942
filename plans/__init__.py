"""operando.plans"""
