"""LAN services built from the inventory: dnsmasq (proxy or full DHCP, TFTP, DNS) and DNS
exports for other servers. (SSSD logins on the nodes are a first-boot concern:
seedbed.firstboot.sssd.)"""
