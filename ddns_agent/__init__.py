"""ddns_agent: a small dynamic-DNS agent for OpenWrt routers and Linux servers."""

__version__ = "0.1.0"
USER_AGENT = "ddns_agent/%s (https://github.com/ddns-agent/ddns_agent)" % __version__
