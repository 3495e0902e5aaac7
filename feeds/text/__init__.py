"""Pure text shared by every stage: sanitising (nh3), plain text, URL checks, feed
boilerplate, and the keys that recognise the same story. Imports no Django and no stage.
"""
