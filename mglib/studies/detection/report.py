from mglib import book
