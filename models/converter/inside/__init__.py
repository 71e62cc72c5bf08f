"""Code that runs inside the isolated converter environment (TensorFlow), never in the farm's.

``build.py`` is executed as a script by ``models.converter``; the modules beside it import each
other as top-level modules from this folder.
"""
