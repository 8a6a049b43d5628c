-- @description Catalogs you can see, with owner and comment
-- @scope user
-- Works on any Unity Catalog workspace: information_schema shows each user what they may see.
SELECT catalog_name, catalog_owner, comment, created
FROM system.information_schema.catalogs
ORDER BY catalog_name
