set -e
U=$(cat /proc/sys/kernel/random/uuid)
ID=$(ceph osd new $U -n client.bootstrap-osd -k /var/lib/ceph/bootstrap-osd/ceph.keyring)
D=/var/lib/ceph/osd/ceph-$ID
mkdir -p $D
ceph auth get-or-create osd.$ID mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' -o $D/keyring
chown -R ceph: $D
sudo -u ceph ceph-osd -i $ID --mkfs --osd-uuid $U --osd-objectstore bluestore > /tmp/osd-mkfs.log 2>&1
systemctl start ceph-osd@$ID
echo "osd.$ID"
