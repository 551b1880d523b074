"""linstor-virt's OpenStack Cinder volume driver (a thin shim over the linstor-virt agent).

Configure a backend section with
``volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver``.
"""
