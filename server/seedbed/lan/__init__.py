"""LAN services built from the inventory: dnsmasq (proxy or full DHCP, TFTP, DNS), DNS
exports for other servers, and SSSD logins from the site's LDAP directory."""
