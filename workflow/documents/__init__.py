"""PDF documents: the CJK font, the application form and other printable outputs."""
