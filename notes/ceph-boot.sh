set -e
FSID=$(cat /proc/sys/kernel/random/uuid)
conf() { cat <<C
[global]
fsid = $FSID
mon_initial_members = st1, st2, st3
mon_host = [v2:10.213.20.41:3300,v1:10.213.20.41:6789],[v2:10.213.20.42:3300,v1:10.213.20.42:6789],[v2:10.213.20.43:3300,v1:10.213.20.43:6789]
public_network = 10.213.20.0/24
cluster_network = 10.213.20.0/24
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
ms_bind_msgr2 = true
osd_pool_default_size = 3
osd_pool_default_min_size = 2
osd_memory_target = 939524096
bluestore_block_create = true
bluestore_block_size = 4294967296
C
}
conf > /tmp/ceph.conf
D="docker exec pstb-st1"
docker cp /tmp/ceph.conf pstb-st1:/etc/ceph/ceph.conf
$D ceph-authtool --create-keyring /tmp/ceph.mon.keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
$D ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
$D ceph-authtool --create-keyring /var/lib/ceph/bootstrap-osd/ceph.keyring --gen-key -n client.bootstrap-osd --cap mon 'profile bootstrap-osd' --cap mgr 'allow r' >/dev/null
$D ceph-authtool /tmp/ceph.mon.keyring --import-keyring /etc/ceph/ceph.client.admin.keyring >/dev/null
$D ceph-authtool /tmp/ceph.mon.keyring --import-keyring /var/lib/ceph/bootstrap-osd/ceph.keyring >/dev/null
$D monmaptool --create --fsid $FSID --addv st1 '[v2:10.213.20.41:3300,v1:10.213.20.41:6789]' --addv st2 '[v2:10.213.20.42:3300,v1:10.213.20.42:6789]' --addv st3 '[v2:10.213.20.43:3300,v1:10.213.20.43:6789]' /tmp/monmap >/dev/null
for f in /tmp/ceph.mon.keyring /etc/ceph/ceph.client.admin.keyring /tmp/monmap /var/lib/ceph/bootstrap-osd/ceph.keyring; do docker cp pstb-st1:$f /tmp/x; for h in st2 st3; do docker cp /tmp/x pstb-$h:$f; done; done
for h in st2 st3; do docker cp /tmp/ceph.conf pstb-$h:/etc/ceph/ceph.conf; done
for h in st1 st2 st3; do
  docker exec pstb-$h sh -c "chown ceph: /tmp/ceph.mon.keyring /tmp/monmap && sudo -u ceph mkdir -p /var/lib/ceph/mon/ceph-$h && sudo -u ceph ceph-mon --mkfs -i $h --monmap /tmp/monmap --keyring /tmp/ceph.mon.keyring && systemctl start ceph-mon@$h"
done
echo "fsid $FSID"
