"""Importers: bring data written by other tools into a store, keeping what identifies it."""
