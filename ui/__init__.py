"""Streamlit helpers shared by app.py and the pages: sidebar, database banner, URL state.

This is the only package besides ``pages/`` that imports streamlit; ``core/`` never does.
"""
