"""More example feature modules, used by the tests: account balances looked up with a lag (``accounts``) and
article-reading windows (``reading``). The payment and fraud examples ship inside the package, in ``fdag.demo``."""
