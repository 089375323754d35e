# Packages every node needs: security upgrades, the firewall, NFS for the NAS.
# Their configuration (and the rest of the hardening) is the first-boot cloud-config's.
apt-get install -y -q unattended-upgrades ufw nfs-common
